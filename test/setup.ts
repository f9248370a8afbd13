// Every test runs on the pure-JS cpu backend: deterministic, and available on any machine.
import '@tensorflow/tfjs-backend-cpu';
import * as tf from '@tensorflow/tfjs-core';

await tf.setBackend('cpu');
await tf.ready();
