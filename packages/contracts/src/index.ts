export * from './api/index.js';
export * from './events/index.js';
export * from './instants.js';
export * from './jobs.js';
export * from './resources.js';
export * from './run-vocabulary.js';
export * from './streams.js';
export * from './verify.js';
