// Placeholder entry for dist/metis.js; the burner work replaces it.
console.log('metis: burner not built yet');
