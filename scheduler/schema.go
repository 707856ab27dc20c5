package scheduler

import (
	"database/sql"
	"embed"
	"fmt"
	"io/fs"
	"path"
	"strconv"
	"strings"
)

// migrations are the schema's versions, numbered from 1 in their file
// names. A database records the last one applied in SQLite's user_version;
// databases created before versions were recorded hold version 0, and the
// first migration, written with IF NOT EXISTS, is harmless to them.
//
//go:embed migrations/*.sql
var migrations embed.FS

// SchemaVersion is the version of the newest migration.
const SchemaVersion = 4

// migrationFiles lists the migrations in order, checking their numbering.
func migrationFiles() ([]string, error) {
	names, err := fs.Glob(migrations, "migrations/*.sql")
	if err != nil {
		return nil, fmt.Errorf("list migrations: %w", err)
	}
	for i, name := range names {
		n, _, _ := strings.Cut(path.Base(name), "_")
		if v, err := strconv.Atoi(n); err != nil || v != i+1 {
			return nil, fmt.Errorf("migration %s is out of sequence: want number %d", name, i+1)
		}
	}
	if len(names) != SchemaVersion {
		return nil, fmt.Errorf("found %d migrations, want SchemaVersion = %d", len(names), SchemaVersion)
	}
	return names, nil
}

// migrate brings db to SchemaVersion, each migration in a transaction of
// its own together with the version it reaches, so that a crash leaves the
// database at the last version fully applied.
func migrate(db *sql.DB) error {
	var version int
	if err := db.QueryRow(`PRAGMA user_version`).Scan(&version); err != nil {
		return fmt.Errorf("read schema version: %w", err)
	}
	names, err := migrationFiles()
	if err != nil {
		return err
	}
	if version > len(names) {
		return fmt.Errorf("the database has schema version %d but this scheduler knows only up to %d: run a newer build", version, len(names))
	}
	for i := version; i < len(names); i++ {
		body, err := migrations.ReadFile(names[i])
		if err != nil {
			return fmt.Errorf("read migration %s: %w", names[i], err)
		}
		tx, err := db.Begin()
		if err != nil {
			return fmt.Errorf("migrate to version %d: %w", i+1, err)
		}
		if _, err := tx.Exec(string(body)); err != nil {
			tx.Rollback()
			return fmt.Errorf("migrate to version %d (%s): %w", i+1, path.Base(names[i]), err)
		}
		// PRAGMA takes no parameters; the number is ours.
		if _, err := tx.Exec(`PRAGMA user_version = ` + strconv.Itoa(i+1)); err != nil {
			tx.Rollback()
			return fmt.Errorf("migrate to version %d: %w", i+1, err)
		}
		if err := tx.Commit(); err != nil {
			return fmt.Errorf("migrate to version %d: %w", i+1, err)
		}
	}
	return nil
}
