export * from './colormap';
export * from './gradcam';
export * from './heatmaps';
export * from './png';
