import { ApiProperty } from '@nestjs/swagger';

export class LivenessDto {
  @ApiProperty({ enum: ['ok'] })
  status!: 'ok';
}

export class ServiceHealthDto {
  @ApiProperty({ enum: ['healthy', 'unhealthy'] })
  status!: 'healthy' | 'unhealthy';

  @ApiProperty({ description: 'Round-trip time of the check in milliseconds (the bound, 1000, when it timed out).' })
  latency_ms!: number;
}

export class ServicesHealthDto {
  @ApiProperty({ type: ServiceHealthDto })
  redis!: ServiceHealthDto;

  @ApiProperty({ type: ServiceHealthDto })
  postgres!: ServiceHealthDto;
}

export class ReadinessDto {
  @ApiProperty({ enum: ['healthy', 'unhealthy'] })
  status!: 'healthy' | 'unhealthy';

  @ApiProperty({ type: ServicesHealthDto })
  services!: ServicesHealthDto;
}
