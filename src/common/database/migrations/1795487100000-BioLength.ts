import type { MigrationInterface, QueryRunner } from 'typeorm';

/**
 * users.bio was unbounded `text`, and the API's 200-grapheme rule alone did not bound it either
 * (combining marks piled onto one letter are one grapheme): the API now also caps a bio at 2000
 * code points (BIO_MAX_CODE_POINTS in users/user-fields.ts), and this CHECK holds every writer
 * to it (char_length counts code points). Bios already longer could only have come through that
 * gap; they are cut to the limit first, so the constraint validates and later updates of those
 * rows (a rename) do not fail on it.
 */
export class BioLength1795487100000 implements MigrationInterface {
  name = 'BioLength1795487100000';

  async up(queryRunner: QueryRunner): Promise<void> {
    await queryRunner.query(`UPDATE users SET bio = left(bio, 2000) WHERE char_length(bio) > 2000`);
    await queryRunner.query(`ALTER TABLE users ADD CONSTRAINT ck_users_bio_length CHECK (char_length(bio) <= 2000)`);
  }

  async down(queryRunner: QueryRunner): Promise<void> {
    await queryRunner.query(`ALTER TABLE users DROP CONSTRAINT ck_users_bio_length`);
  }
}
