export * from './client';
export * from './format';
export * from './paths';
