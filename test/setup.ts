// Every test runs on the pure-JS cpu backend: deterministic, and available on any machine.
import '@tensorflow/tfjs-backend-cpu';
import * as tf from '@tensorflow/tfjs-core';

// Production mode silences tfjs's "install our node backend" advice (this machine cannot install
// tfjs-node) and its other console notes, so test output shows only what the tests print. (tfjs's
// IS_TEST flag would too, but it also turns on a per-kernel leak check that counts the BatchNorm
// moments a custom-gradient op hands back as leaked.)
tf.env().set('PROD', true);

await tf.setBackend('cpu');
await tf.ready();
