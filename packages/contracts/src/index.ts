export * from './events/index';
export * from './instants';
export * from './jobs';
export * from './resources';
export * from './streams';
