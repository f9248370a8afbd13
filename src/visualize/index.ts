export * from './colormap';
export * from './gradcam';
export * from './heatmaps';
export * from './png';
export { type ReliabilityCurve, reliabilityDiagramSvg } from './reliability';
