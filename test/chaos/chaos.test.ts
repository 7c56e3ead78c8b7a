/** The chaos suite's first CI seed (or CHAOS_SEED): see ./suite.ts. */
import { chaosSuite } from './suite.js';

chaosSuite(0);
