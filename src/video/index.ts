/**
 * Video: faces followed from frame to frame with smoothed expressions ({@link FaceTracker}).
 * Browser-safe.
 * @module
 */
export {
  boxIoU,
  FaceTracker,
  TRACKER_DEFAULTS,
  type TrackableFace,
  type TrackedFace,
  type TrackerOptions,
  type TrackSummary,
} from './tracker';
