/** The platform conformance suite (suite.ts) through the Discord bot and the fake Discord. */
import { DiscordDriver } from './drivers/discord.js';
import { conformanceSuite } from './suite.js';

conformanceSuite('Discord', (setup) => DiscordDriver.start(setup));
