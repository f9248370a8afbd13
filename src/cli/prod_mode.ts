/**
 * Imported first by the CLI's entry point, so that it runs before any other module creates a tensor.
 * The CLI is an application, so it may set tfjs's global flags (the library never does): production
 * mode silences tfjs's console advice, chiefly "install our node backend", which is noise where
 * tfjs-node cannot be installed and wrong once fer-cbam has picked WASM.
 * @module
 */
import * as tf from '@tensorflow/tfjs-core';

tf.enableProdMode();
