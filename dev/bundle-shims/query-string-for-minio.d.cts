export declare function stringify(...args: unknown[]): string;
