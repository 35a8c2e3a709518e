export * from './events/index';
export * from './jobs';
export * from './resources';
export * from './streams';
