export { encodePng } from '../image/png';
export * from './colormap';
export * from './gradcam';
export * from './heatmaps';
export { type ReliabilityCurve, reliabilityDiagramSvg } from './reliability';
