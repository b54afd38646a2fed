/** Where the burner puts the node's manifest inside the card's FAT boot partition (the bootstrap finds it there). */
export const MANIFEST_PATH = 'metis/node.yaml';
