"""GDAL as the oracle for change maps (test-only): pixel values of our COGs, gdal.Polygonize on our
mask, and OGR's reading of our GeoJSON / GeoPackage exports. Prints one JSON document."""
import json
import sys

import numpy as np
from osgeo import gdal, ogr, osr

gdal.UseExceptions()


def pixels(path, out):
    """Band 1 as raw little-endian values (float32 or uint8) in `out`, plus facts as JSON."""
    ds = gdal.Open(path)
    band = ds.GetRasterBand(1)
    a = band.ReadAsArray()
    a.astype(a.dtype.newbyteorder("<")).tofile(out)
    ct = band.GetColorTable()
    return {
        "dtype": str(a.dtype),
        "scale": band.GetScale(),
        "offset": band.GetOffset(),
        "description": band.GetDescription(),
        "metadata": ds.GetMetadata(),
        "structure": ds.GetMetadata("IMAGE_STRUCTURE"),
        "colors": [list(ct.GetColorEntry(i))[:3] for i in range(4)] if ct else None,
        "overview0": band.GetOverview(0).ReadAsArray().astype("float64").tolist()[0][:8] if band.GetOverviewCount() else None,
    }


def polygonize(path):
    """gdal.Polygonize of the mask (4-connected, value 1 only): each polygon's area and ring count."""
    ds = gdal.Open(path)
    band = ds.GetRasterBand(1)
    drv = ogr.GetDriverByName("Memory")
    src = drv.CreateDataSource("m")
    srs = osr.SpatialReference(wkt=ds.GetProjection())
    layer = src.CreateLayer("p", srs=srs, geom_type=ogr.wkbPolygon)
    layer.CreateField(ogr.FieldDefn("v", ogr.OFTInteger))
    gdal.Polygonize(band, band, layer, 0, [], callback=None)
    out = []
    for f in layer:
        g = f.GetGeometryRef()
        out.append({"area": g.GetArea(), "rings": g.GetGeometryCount()})
    return out


def vector(path):
    ds = ogr.Open(path)
    layer = ds.GetLayer(0)
    srs = layer.GetSpatialRef()
    if srs is not None:
        srs.AutoIdentifyEPSG()
    feats = []
    for f in layer:
        g = f.GetGeometryRef()
        feats.append({"area_m2": f.GetField("area_m2"), "area_crs": f.GetField("area_crs"), "planar": g.GetArea(),
                      "rings": g.GetGeometryCount(), "valid": g.IsValid()})
    return {
        "driver": ds.GetDriver().GetName(),
        "count": layer.GetFeatureCount(),
        "geometry": ogr.GeometryTypeToName(layer.GetGeomType()),
        "epsg": int(srs.GetAuthorityCode(None)) if srs is not None and srs.GetAuthorityCode(None) else None,
        "features": feats,
    }


if __name__ == "__main__":
    command = sys.argv[1]
    if command == "pixels":
        result = pixels(sys.argv[2], sys.argv[3])
    elif command == "polygonize":
        result = polygonize(sys.argv[2])
    else:
        result = vector(sys.argv[2])
    print(json.dumps(result))
