/** The chaos suite's second CI seed, on a worker of its own beside the first: see ./suite.ts. */
import { chaosSuite } from './suite.js';

chaosSuite(1);
