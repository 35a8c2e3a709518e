/** The admin API's request and response schemas: the routes validate and document with them. */
export * from './api-keys.js';
export * from './applications.js';
export * from './console.js';
export * from './errors.js';
export * from './fields.js';
export * from './outbox.js';
export * from './params.js';
export * from './routes.js';
export * from './runs.js';
export * from './verify.js';
export * from './writes.js';
