export { LINEAR_COMBINATION_KERNEL, type LinearTerm, linearCombination } from './linear_combination';
