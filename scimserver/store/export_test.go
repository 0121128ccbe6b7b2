package store

// UseMigrations makes OpenSQLite migrate only to version n, for the
// external tests of an upgrade; restore goes back to all migrations.
func UseMigrations(n int) (restore func()) {
	saved := migrations
	migrations = saved[:n]
	return func() { migrations = saved }
}
