/**
 * Video: faces followed from frame to frame with smoothed expressions ({@link FaceTracker}, browser-safe)
 * and video files decoded and encoded through ffmpeg (Node only).
 * @module
 */
export {
  type DecodeVideoOptions,
  decodeVideo,
  type EncodeVideoOptions,
  encodeVideo,
  FfmpegError,
  findFfmpeg,
  isVideoPath,
  VIDEO_EXTENSIONS,
  type VideoFrame,
  type VideoInfo,
  type VideoWriter,
} from './ffmpeg';
export {
  boxIoU,
  FaceTracker,
  TRACKER_DEFAULTS,
  type TrackableFace,
  type TrackedFace,
  type TrackerOptions,
  type TrackSummary,
} from './tracker';
