import { z } from 'zod';
import type { UsersService } from '../../users/users.service';
import type { AgentToolDefinition } from './agent-tool';

const schema = z.object({});

/**
 * The caller's own profile. Takes no arguments on purpose: the user id comes from the verified
 * access token in the tool context, so the model cannot ask for anyone else's profile.
 */
export function myProfileTool(users: Pick<UsersService, 'getProfile'>): AgentToolDefinition<typeof schema> {
  return {
    name: 'my_profile',
    description: "Returns the signed-in user's own profile (id, username, avatar_url, bio). Takes no arguments.",
    schema,
    maxOutputChars: 1000,
    async run(_args, context) {
      const profile = await users.getProfile(context.user.id);
      return JSON.stringify({ id: profile.id, username: profile.username, avatar_url: profile.avatarUrl, bio: profile.bio });
    },
  };
}
