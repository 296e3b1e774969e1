import type { Transform } from 'node:stream';
declare const BlockStream2: new (options: { size: number; zeroPadding?: boolean }) => Transform;
export = BlockStream2;
