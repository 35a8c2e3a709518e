export * from './client';
export * from './paths';
