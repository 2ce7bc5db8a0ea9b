/** The platform conformance suite (suite.ts) through the web console's HTTP API. */
import { WebDriver } from './drivers/web.js';
import { conformanceSuite } from './suite.js';

conformanceSuite('web console', (setup) => WebDriver.start(setup));
