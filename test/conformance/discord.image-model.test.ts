/** /imagine on SDXL and SDXL-Turbo exports (image-model-suite.ts) through the Discord bot and the fake Discord. */
import { DiscordDriver } from './drivers/discord.js';
import { imageModelSuite } from './image-model-suite.js';

imageModelSuite('Discord', (setup) => DiscordDriver.start(setup));
