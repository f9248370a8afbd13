import * as tf from '@tensorflow/tfjs-core';
import { describe, expect, it } from 'vitest';

describe('file:// router registration when file:// is already claimed', () => {
  it('does not register when another handler already claims file:// at import time', async () => {
    const claimer = (url: string | string[]) =>
      (typeof url === 'string' && url.startsWith('file://')
        ? { load: async () => ({}) }
        : null) as unknown as tf.io.IOHandler;
    tf.io.registerLoadRouter(claimer);
    tf.io.registerSaveRouter(claimer);
    const io = await import('../../src/io/index');
    expect(io.isFileSystemRouterRegistered()).toBe(false);
    expect(io.registerFileSystemRouter()).toBe(false);
    expect(tf.io.getLoadHandlers('file://x/model.json')).toHaveLength(1);
    expect(tf.io.getLoadHandlers('file://x/model.json')[0]).not.toBeInstanceOf(io.FileSystemHandler);
  });
});
