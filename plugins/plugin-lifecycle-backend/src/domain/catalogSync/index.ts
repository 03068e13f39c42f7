/**
 * Pure rules of catalog sync: which entity declares a plugin's desired
 * version, and whether a declaration is acted on. Nothing here does I/O or
 * reads a clock; the engine (engines/catalogSync) reads the catalog and
 * starts the deployments.
 */
export * from './syncDecision';
