export { type AtomicWriteData, type WriteFileAtomicOptions, writeFileAtomic } from './atomic';
export {
  FER_CBAM_LAYER_CLASSES,
  FileSystemHandler,
  fileSystem,
  fileSystemLoadRouter,
  fileSystemSaveRouter,
  isFileSystemRouterRegistered,
  registerFileSystemRouter,
} from './file_handler';
export { acquireRunLock, RUN_LOCK_FILE, type RunLock, type RunLockInfo } from './lock';

import { registerFileSystemRouter } from './file_handler';

// Importing fer-cbam makes `file://` work in Node with pure tfjs (a no-op under tfjs-node).
registerFileSystemRouter();
