export declare class Builder {
  constructor(options?: Record<string, unknown>);
  buildObject(rootObj: unknown): string;
}
