import { Inject, Injectable, Logger } from '@nestjs/common';
import { InjectConfig, type AppConfig } from '../../../common/config';
import { UsersService } from '../../users/users.service';
import type { AgentToolDefinition } from './agent-tool';
import { calculatorTool } from './calculator.tool';
import { currentTimeTool } from './current-time.tool';
import { myProfileTool } from './my-profile.tool';

/** The tools the agent may use: every shipped tool, or the ones named in AGENT_TOOLS. */
@Injectable()
export class AgentToolRegistry {
  private readonly logger = new Logger('AgentTools');
  private readonly tools: readonly AgentToolDefinition[];

  constructor(@InjectConfig() config: AppConfig, @Inject(UsersService) users: UsersService) {
    const all: AgentToolDefinition[] = [currentTimeTool(), calculatorTool(), myProfileTool(users)];
    const wanted = config.llm.tools;
    if (wanted === undefined) {
      this.tools = all;
    } else {
      for (const name of wanted) {
        if (!all.some((t) => t.name === name))
          this.logger.warn(`AGENT_TOOLS names an unknown tool "${name}"; known: ${all.map((t) => t.name).join(', ')}`);
      }
      this.tools = all.filter((t) => wanted.includes(t.name));
    }
  }

  enabled(): readonly AgentToolDefinition[] {
    return this.tools;
  }
}
