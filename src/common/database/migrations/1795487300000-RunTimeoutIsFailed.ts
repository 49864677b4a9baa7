import type { MigrationInterface, QueryRunner } from 'typeorm';

/**
 * CONTRACT.md: a model failure, a timeout included, leaves the run "recorded as failed". Timed-out
 * runs were stored with a status of their own (`timed_out`, error_code `model_timeout`); they are
 * now `failed` with that error code, which keeps the distinction. Rows of the previous release are
 * converted, and the status CHECK no longer admits `timed_out`. `down` restores both: before this
 * migration every run with error_code `model_timeout` was stored `timed_out`.
 */
export class RunTimeoutIsFailed1795487300000 implements MigrationInterface {
  name = 'RunTimeoutIsFailed1795487300000';

  async up(queryRunner: QueryRunner): Promise<void> {
    await queryRunner.query(`ALTER TABLE agent_chat_runs DROP CONSTRAINT ck_agent_chat_runs_status`);
    await queryRunner.query(`UPDATE agent_chat_runs SET status = 'failed' WHERE status = 'timed_out'`);
    await queryRunner.query(
      `ALTER TABLE agent_chat_runs ADD CONSTRAINT ck_agent_chat_runs_status CHECK (status IN ('running', 'succeeded', 'failed', 'aborted'))`,
    );
  }

  async down(queryRunner: QueryRunner): Promise<void> {
    await queryRunner.query(`ALTER TABLE agent_chat_runs DROP CONSTRAINT ck_agent_chat_runs_status`);
    await queryRunner.query(`UPDATE agent_chat_runs SET status = 'timed_out' WHERE status = 'failed' AND error_code = 'model_timeout'`);
    await queryRunner.query(
      `ALTER TABLE agent_chat_runs ADD CONSTRAINT ck_agent_chat_runs_status CHECK (status IN ('running', 'succeeded', 'failed', 'timed_out', 'aborted'))`,
    );
  }
}
