import {
  ApplicationCommandOptionType,
  ApplicationIntegrationType,
  ChannelType,
  InteractionContextType,
  type RESTPutAPIApplicationCommandsJSONBody,
} from 'discord.js';
import type { CommandLimits } from '../../commands/hearth-commands.js';

/** Discord's cap on a string option's length. */
const DISCORD_MAX_STRING = 6000;
const MAX_CHOICES = 25;

/** Image sizes offered as choices: common shapes that fit the configured bounds (multiples of 8). */
export function sizeChoices(limits: CommandLimits['image']): string[] {
  const shapes: Array<[number, number]> = [
    [512, 512], [768, 768], [1024, 1024], [256, 256], [384, 384], [640, 640],
    [512, 768], [768, 512], [640, 448], [448, 640], [768, 1024], [1024, 768],
    [576, 1024], [1024, 576], [832, 1216], [1216, 832],
  ];
  const ok = (v: number) => v >= limits.minSize && v <= limits.maxSize && v % limits.sizeMultiple === 0;
  const out = shapes.filter(([w, h]) => ok(w) && ok(h)).map(([w, h]) => `${w}x${h}`);
  const smallest = Math.ceil(limits.minSize / limits.sizeMultiple) * limits.sizeMultiple;
  if (out.length === 0 && ok(smallest)) out.push(`${smallest}x${smallest}`);
  return out.slice(0, MAX_CHOICES);
}

/** /ask's `adapter` option, its choices the configured LoRA adapters (none: no option). */
function adapterOption(adapters: readonly string[]) {
  if (adapters.length === 0) return [];
  const base = { type: ApplicationCommandOptionType.String as const, name: 'adapter', description: 'A fine-tuned adapter to answer with' };
  if (adapters.length > MAX_CHOICES) return [{ ...base, max_length: 64 }];
  return [{ ...base, choices: adapters.map((a) => ({ name: a, value: a })) }];
}

function sizeOption(img: CommandLimits['image']) {
  const choices = sizeChoices(img);
  const base = { type: ApplicationCommandOptionType.String as const, name: 'size', description: 'Width x height, e.g. 512x768' };
  return choices.length > 0 ? { ...base, choices: choices.map((c) => ({ name: c, value: c })) } : { ...base, max_length: 11 };
}

/**
 * hearth's slash commands, with the option bounds of the running configuration (the job contracts'
 * limits, as {@link CommandLimits} carries them). `imagePromptChars` overrides the image prompt's
 * limit; by default it is `limits.image.maxPromptChars`.
 */
export function commandDefinitions(limits: CommandLimits, imagePromptChars = limits.image.maxPromptChars): RESTPutAPIApplicationCommandsJSONBody {
  const where = {
    contexts: [InteractionContextType.Guild, InteractionContextType.BotDM],
    integration_types: [ApplicationIntegrationType.GuildInstall],
  };
  const img = limits.image;
  return [
    {
      name: 'ask',
      description: "Ask hearth's private AI. In a thread or DM it remembers the conversation.",
      ...where,
      options: [
        { type: ApplicationCommandOptionType.String, name: 'prompt', description: 'Your question', required: true, max_length: Math.min(limits.maxPromptChars, DISCORD_MAX_STRING) },
        { type: ApplicationCommandOptionType.Boolean, name: 'private', description: 'Only you see the answer (default: no)' },
        { type: ApplicationCommandOptionType.Attachment, name: 'image', description: 'An image to ask about' },
        ...adapterOption(limits.adapters ?? []),
      ],
    },
    {
      name: 'imagine',
      description: 'Paint an image with Stable Diffusion.',
      ...where,
      options: [
        { type: ApplicationCommandOptionType.String, name: 'prompt', description: 'What to paint', required: true, max_length: Math.min(imagePromptChars, DISCORD_MAX_STRING) },
        { type: ApplicationCommandOptionType.String, name: 'negative', description: 'What to keep out of the image', max_length: Math.min(imagePromptChars, DISCORD_MAX_STRING) },
        sizeOption(img),
        { type: ApplicationCommandOptionType.Integer, name: 'steps', description: `Denoising steps (1–${img.maxSteps}); more is slower and finer`, min_value: 1, max_value: img.maxSteps },
        { type: ApplicationCommandOptionType.Integer, name: 'seed', description: 'Same seed and options, same image', min_value: 0, max_value: img.maxSeed },
        { type: ApplicationCommandOptionType.Number, name: 'guidance', description: `How closely to follow the prompt (${img.minGuidance}–${img.maxGuidance})`, min_value: img.minGuidance, max_value: img.maxGuidance },
        { type: ApplicationCommandOptionType.String, name: 'sampler', description: 'The sampler', choices: img.schedulers.slice(0, MAX_CHOICES).map((s) => ({ name: s, value: s })) },
      ],
    },
    {
      name: 'caption',
      description: 'Describe an image, or answer a question about it.',
      ...where,
      options: [
        { type: ApplicationCommandOptionType.Attachment, name: 'image', description: 'The image', required: true },
        { type: ApplicationCommandOptionType.String, name: 'question', description: 'A question about the image', max_length: Math.min(limits.maxQuestionChars, DISCORD_MAX_STRING) },
        { type: ApplicationCommandOptionType.String, name: 'detail', description: 'Short or detailed (default short)', choices: limits.captionDetails.map((d) => ({ name: d, value: d })) },
      ],
    },
    { name: 'queue', description: 'Your jobs, the queue, and what the GPU is doing.', ...where },
    {
      name: 'cancel',
      description: 'Cancel a job (your newest one if you name none).',
      ...where,
      options: [{ type: ApplicationCommandOptionType.String, name: 'job', description: 'The job (see /queue)', autocomplete: true, max_length: 100 }],
    },
    { name: 'forget', description: 'Forget this thread’s or DM’s conversation.', ...where },
    {
      name: 'hearth',
      description: 'hearth administration.',
      ...where,
      options: [
        { type: ApplicationCommandOptionType.Subcommand, name: 'status', description: 'Loaded models, VRAM, the queue by user (admins)' },
        {
          type: ApplicationCommandOptionType.SubcommandGroup,
          name: 'knowledge',
          description: 'Workspace knowledge: the channels hearth reads (admins)',
          options: [
            { type: ApplicationCommandOptionType.Subcommand, name: 'status', description: 'Indexed channels, message counts, last sync (admins)' },
            {
              type: ApplicationCommandOptionType.Subcommand,
              name: 'drop',
              description: "Forget a channel's indexed messages (admins)",
              options: [{ type: ApplicationCommandOptionType.Channel, name: 'channel', description: 'The channel to forget', required: true, channel_types: [ChannelType.GuildText, ChannelType.GuildAnnouncement] }],
            },
          ],
        },
      ],
    },
  ];
}
