import * as fs from 'fs';
import * as path from 'path';
import { describe, expect, it } from 'vitest';
import { loadConfig } from '../../kernel-lib/src/config';
import { ConfigError } from '../../kernel-lib/src/errors';
import { tempDir } from '../helpers';

describe('loadConfig', () => {
  it('defaults to the embedded workspace under .changelab with no settings at all', () => {
    const dir = tempDir();
    const config = loadConfig({ cwd: dir, env: {} });
    expect(config.homeDir).toBe(path.join(dir, '.changelab'));
    expect(config.databaseUrl).toBeUndefined();
    expect(config.s3).toBeUndefined();
    expect(config.redisUrl).toBeUndefined();
    expect(config.project).toBe('default');
    expect(config.sources).toEqual([]);
  });

  it('reads changelab.config.json from the folder or above it, with home relative to the file', () => {
    const dir = tempDir();
    fs.writeFileSync(path.join(dir, 'changelab.config.json'), JSON.stringify({ home: 'state', project: 'seoul-2024' }));
    const nested = path.join(dir, 'notebooks', 'deep');
    fs.mkdirSync(nested, { recursive: true });
    const config = loadConfig({ cwd: nested, env: {} });
    expect(config.homeDir).toBe(path.join(dir, 'state'));
    expect(config.project).toBe('seoul-2024');
  });

  it('lets CHANGELAB_* variables override the file', () => {
    const dir = tempDir();
    fs.writeFileSync(path.join(dir, 'changelab.config.json'), JSON.stringify({ project: 'from-file' }));
    const config = loadConfig({
      cwd: dir,
      env: {
        CHANGELAB_PROJECT: 'from-env',
        CHANGELAB_DATABASE_URL: 'postgres://u:p@127.0.0.1:5432/db',
        CHANGELAB_S3_ENDPOINT: 'http://127.0.0.1:9000',
        CHANGELAB_S3_ACCESS_KEY: 'key',
        CHANGELAB_S3_SECRET_KEY: 'secret-value',
        CHANGELAB_REDIS_URL: 'redis://127.0.0.1:6379'
      }
    });
    expect(config.project).toBe('from-env');
    expect(config.databaseUrl).toBe('postgres://u:p@127.0.0.1:5432/db');
    expect(config.s3).toEqual({
      endpoint: 'http://127.0.0.1:9000',
      accessKey: 'key',
      secretKey: 'secret-value',
      bucket: 'changelab',
      region: 'us-east-1'
    });
    expect(config.redisUrl).toBe('redis://127.0.0.1:6379');
  });

  it('names every invalid key and where the settings came from', () => {
    const dir = tempDir();
    try {
      loadConfig({ cwd: dir, env: { CHANGELAB_DATABASE_URL: 'mysql://x', CHANGELAB_PROJECT: 'Bad Name!' } });
      expect.unreachable();
    } catch (error) {
      expect(error).toBeInstanceOf(ConfigError);
      const message = (error as Error).message;
      expect(message).toContain('databaseUrl: must be a URL starting with postgres:// or postgresql://');
      expect(message).toContain('project:');
      expect(message).toContain('CHANGELAB_DATABASE_URL');
    }
  });

  it('rejects an S3 section with a missing secret and unknown keys in the file', () => {
    const dir = tempDir();
    fs.writeFileSync(
      path.join(dir, 'changelab.config.json'),
      JSON.stringify({ s3: { endpoint: 'http://127.0.0.1:9000', accessKey: 'k' }, databseUrl: 'typo' })
    );
    expect(() => loadConfig({ cwd: dir, env: {} })).toThrow(/s3\.secretKey[\s\S]*databseUrl|databseUrl[\s\S]*s3\.secretKey/);
  });

  it('stops on a misspelt CHANGELAB_ variable instead of ignoring it', () => {
    expect(() => loadConfig({ cwd: tempDir(), env: { CHANGELAB_DATABSE_URL: 'postgres://x' } })).toThrow(
      /unknown environment variable CHANGELAB_DATABSE_URL/
    );
  });

  it('reports a config file that is not JSON', () => {
    const dir = tempDir();
    fs.writeFileSync(path.join(dir, 'changelab.config.json'), '{ project: ');
    expect(() => loadConfig({ cwd: dir, env: {} })).toThrow(/is not valid JSON/);
  });

  it('refuses well-known default credentials in production mode only', () => {
    const env = {
      CHANGELAB_S3_ENDPOINT: 'http://10.0.0.5:9000',
      CHANGELAB_S3_ACCESS_KEY: 'minioadmin',
      CHANGELAB_S3_SECRET_KEY: 'minioadmin'
    };
    expect(() => loadConfig({ cwd: tempDir(), env })).not.toThrow();
    expect(() => loadConfig({ cwd: tempDir(), env: { ...env, CHANGELAB_MODE: 'production' } })).toThrow(
      /refusing unsafe settings in production mode: s3.secretKey is a well-known default password/
    );
  });
});
