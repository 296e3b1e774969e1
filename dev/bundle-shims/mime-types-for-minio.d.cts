export declare function lookup(path: string): string | false;
