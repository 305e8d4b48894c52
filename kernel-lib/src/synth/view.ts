// A view is one camera's pixel grid over the synthetic world. The world is laid out in metres
// (x east, y south, from the scene's top-left corner); the before and after images are two views
// of it that differ by a sub-pixel shift, which is how misregistration arises in real pairs.

export interface IView {
  width: number;
  height: number;
  /** Metres per pixel. */
  gsd: number;
  /** Offset of this view's grid from the nominal one, in pixels (the misregistration). */
  shiftX: number;
  shiftY: number;
}

/** World metres to this view's continuous pixel coordinates (pixel centres sit at n + 0.5). */
export function toPixelX(view: IView, metres: number): number {
  return metres / view.gsd - view.shiftX;
}

export function toPixelY(view: IView, metres: number): number {
  return metres / view.gsd - view.shiftY;
}
