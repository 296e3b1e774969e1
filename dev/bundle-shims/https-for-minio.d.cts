import type * as https from 'node:https';
export declare const request: typeof https.request;
export declare const get: typeof https.get;
export declare const Agent: typeof https.Agent;
export declare const globalAgent: typeof https.globalAgent;
