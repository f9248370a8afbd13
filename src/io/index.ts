export { type AtomicWriteData, type WriteFileAtomicOptions, writeFileAtomic } from './atomic';
export {
  FileSystemHandler,
  fileSystem,
  fileSystemLoadRouter,
  fileSystemSaveRouter,
  isFileSystemRouterRegistered,
  registerFileSystemRouter,
} from './file_handler';

import { registerFileSystemRouter } from './file_handler';

// Importing fer-cbam makes `file://` work in Node with pure tfjs (a no-op under tfjs-node).
registerFileSystemRouter();
