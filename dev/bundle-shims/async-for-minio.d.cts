export declare function eachSeries(...args: unknown[]): unknown;
