declare const __METIS_VERSION__: string | undefined;

/** Set by scripts/build.mjs from package.json; "dev" when running from source (tests). */
export const VERSION: string = typeof __METIS_VERSION__ === 'string' ? __METIS_VERSION__ : 'dev';
