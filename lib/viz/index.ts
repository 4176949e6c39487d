// Visualisation: PNG encoding, loss/lr charts and reconstruction grids.

export * from './png';
export * from './plot';
export * from './grid';
