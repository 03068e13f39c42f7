export * from './statsDelta';
export * from './evidence';
export * from './evaluate';
