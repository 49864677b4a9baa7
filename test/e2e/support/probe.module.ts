import { Body, Controller, Get, HttpCode, Module, Post } from '@nestjs/common';
import { ApiExcludeController } from '@nestjs/swagger';
import { IsEmail, IsString, Length } from 'class-validator';
import { Public } from '../../../src/common/auth';
import { commonError } from '../../../src/common/errors/common-errors';
import { msg } from '../../../src/common/http/validation';
import { RateLimit } from '../../../src/common/throttling/rate-limit.decorator';

class EchoDto {
  @IsString()
  @Length(3, 30, { context: msg('长度须为 3 到 30 个字符', 'must be 3 to 30 characters long') })
  name!: string;

  @IsEmail()
  email!: string;
}

/**
 * Test-only routes that make the foundation's error paths reachable before any feature route
 * exists. Excluded from OpenAPI, and only imported by tests.
 */
@ApiExcludeController()
@Controller('__probe')
class ProbeController {
  @Public()
  @Post('echo')
  @HttpCode(200)
  echo(@Body() body: EchoDto): EchoDto {
    return body;
  }

  @Public()
  @Get('boom')
  boom(): never {
    throw new Error('SELECT password_hash FROM users -- internal detail that must never leak');
  }

  @Public()
  @Get('db-down')
  dbDown(): never {
    throw Object.assign(new Error('connect ECONNREFUSED 127.0.0.1:5432'), { code: 'ECONNREFUSED' });
  }

  @Public()
  @Get('limited')
  @RateLimit({ bucket: 'probe-limited', limit: 2, windowSeconds: 60 })
  limited(): { ok: true } {
    return { ok: true };
  }

  @Public()
  @Get('conflict')
  conflict(): never {
    throw commonError('conflict');
  }

  @Get('private')
  private(): { ok: true } {
    return { ok: true };
  }

  @Get('limited-private')
  @RateLimit({ bucket: 'probe-limited-private', limit: 1, windowSeconds: 60 })
  limitedPrivate(): { ok: true } {
    return { ok: true };
  }
}

@Module({ controllers: [ProbeController] })
export class ProbeModule {}
