declare const lodashForMinio: Record<string, (...args: any[]) => any>;
export = lodashForMinio;
