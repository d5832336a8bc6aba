package main

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"log/slog"
	"os"
	"os/signal"
	"strings"
	"syscall"

	"switchboard/config"
	"switchboard/store"
	"switchboard/store/postgres"
	"switchboard/store/sealed"
	"switchboard/store/sqlite"
)

// openStore opens the database DATABASE_URL names, without sealing.
func openStore(ctx context.Context, cfg *config.Config, log *slog.Logger) (store.Store, error) {
	var st store.Store
	var err error
	if cfg.PostgresURL != "" {
		st, err = postgres.Open(ctx, cfg.PostgresURL)
	} else {
		st, err = sqlite.Open(ctx, cfg.SQLitePath, sqlite.WithSynchronous(cfg.SQLiteSynchronous), sqlite.WithLogger(log))
	}
	if err != nil {
		return nil, fmt.Errorf("open store: %w", err)
	}
	return st, nil
}

// keyFilePath is where the secret key of a SQLite database lives when
// SWITCHBOARD_SECRET_KEY is not set: beside the database, so that the
// database file alone (a copy, a backup) holds no usable secret, while a
// restart finds its key. PostgreSQL has no key file: "".
func keyFilePath(cfg *config.Config) string {
	if cfg.SQLitePath == "" {
		return ""
	}
	return cfg.SQLitePath + ".key"
}

// pendingKeySuffix names the key file a rotation writes before it re-seals
// anything, so that a crash cannot lose the new key.
const pendingKeySuffix = ".new"

// sealStore wraps the raw store so provider secrets are sealed at rest,
// by default:
//   - SWITCHBOARD_SECRET_KEY (or its _FILE) set: that key;
//   - else on SQLite: the key file DATABASE_PATH.key, created (0600) on
//     first start unless ALLOW_PLAINTEXT_SECRETS=true;
//   - else (PostgreSQL): no key, and secrets are refused unless
//     ALLOW_PLAINTEXT_SECRETS=true.
//
// With a key, secrets still stored in clear are sealed now (one pass,
// logged). Without one, a database that already holds sealed secrets is
// refused: starting would only hide the missing key.
func sealStore(ctx context.Context, cfg *config.Config, raw store.Store, log *slog.Logger) (store.Store, error) {
	path := keyFilePath(cfg)
	if path != "" {
		if _, err := os.Stat(path + pendingKeySuffix); err == nil {
			return nil, fmt.Errorf("an unfinished secret key rotation left %s: run `switchboard rotate-secret-key` again to finish it", path+pendingKeySuffix)
		}
	}
	before, err := sealed.Census(ctx, raw)
	if err != nil {
		return nil, err
	}
	key, source := cfg.SecretKey, "SWITCHBOARD_SECRET_KEY"
	if key == nil && path != "" {
		source = "key file " + path
		key, err = sealed.ReadKeyFile(path)
		switch {
		case err == nil:
		case !errors.Is(err, fs.ErrNotExist):
			return nil, err
		case cfg.AllowPlaintextSecrets:
			key = nil // an existing key file is used, but none is created
		case before.Sealed > 0:
			return nil, fmt.Errorf("the database holds %d providers with sealed secrets but its key file %s is missing: restore it, or set SWITCHBOARD_SECRET_KEY", before.Sealed, path)
		default:
			var created bool
			if key, created, err = sealed.LoadOrCreateKeyFile(path); err != nil {
				return nil, fmt.Errorf("create secret key file: %w", err)
			}
			if created {
				log.Info("generated secret key file; back it up separately from the database", "path", path)
			}
		}
	}
	if key == nil && before.Sealed > 0 {
		return nil, fmt.Errorf("the database holds %d providers with sealed secrets but SWITCHBOARD_SECRET_KEY is not set", before.Sealed)
	}
	st, err := sealed.WrapWith(raw, key, sealed.Options{RequireKey: key == nil && !cfg.AllowPlaintextSecrets})
	if err != nil {
		return nil, err
	}
	if key == nil {
		if before.Plaintext > 0 {
			log.Warn("provider secrets are stored in clear: set SWITCHBOARD_SECRET_KEY to seal them", "providers", before.Plaintext)
		}
		if !cfg.AllowPlaintextSecrets {
			log.Warn("no SWITCHBOARD_SECRET_KEY: providers with secrets cannot be created or updated (ALLOW_PLAINTEXT_SECRETS=true accepts them in clear)")
		}
		return st, nil
	}
	res, err := sealed.Reseal(ctx, st)
	if err != nil {
		return nil, err
	}
	if res.Resealed > 0 {
		log.Info("sealed provider secrets stored in clear or under an older format", "providers", res.Resealed, "key", source, "key_id", sealed.KeyID(key))
		if before.Plaintext > 0 {
			scrub(ctx, raw, log)
		}
	}
	if len(res.Unopenable) > 0 {
		log.Error("provider secrets sealed under another key cannot be opened; these providers fail until the key is restored or their secrets are sent again",
			"providers", len(res.Unopenable), "provider_ids", strings.Join(res.Unopenable, ","), "key_id", sealed.KeyID(key))
	}
	return st, nil
}

// scrub drops overwritten plaintext from the files of a store that can
// (SQLite: VACUUM), so a copy of the file holds no secret from before it
// was sealed. A failure is logged, not fatal: the live rows are sealed.
func scrub(ctx context.Context, raw store.Store, log *slog.Logger) {
	sc, ok := raw.(interface{ Scrub(context.Context) error })
	if !ok {
		return
	}
	if err := sc.Scrub(ctx); err != nil {
		log.Warn("could not rewrite the database file; secrets overwritten by sealing may remain in its free pages until the next VACUUM", "err", err)
	}
}

func rotateHelp(w io.Writer) {
	fmt.Fprint(w, `Usage: switchboard rotate-secret-key

Re-seals every provider secret (authToken, apiKey, apiKeySecret) under a new key. Stop
every server using the database first: a server still running with the old
key cannot open secrets sealed under the new one.

The current key is found as serve finds it (SWITCHBOARD_SECRET_KEY, or on
SQLite the key file DATABASE_PATH.key). The new key is
SWITCHBOARD_NEW_SECRET_KEY (or SWITCHBOARD_NEW_SECRET_KEY_FILE); on SQLite
without SWITCHBOARD_SECRET_KEY it may be left unset: a key is generated.

On SQLite in key-file mode the new key is first written to
DATABASE_PATH.key.new, every provider is re-sealed, and the key file is then
replaced atomically. Otherwise, set SWITCHBOARD_SECRET_KEY to the new key
before starting the server again.

Each provider is rewritten in its own transaction, and every sealed value
names the key that sealed it: if the command is interrupted, run it again
with the same settings; it opens what either key sealed and finishes. serve
refuses to start while DATABASE_PATH.key.new exists.
`)
}

// rotateSecretKey is the rotate-secret-key command.
func rotateSecretKey(args []string, stdout, stderr io.Writer) int {
	if len(args) > 0 {
		fmt.Fprintf(stderr, "switchboard rotate-secret-key: unexpected argument %q\n", args[0])
		return 2
	}
	cfg, err := config.Load(os.LookupEnv)
	if err != nil {
		fmt.Fprintln(stderr, err)
		return 2
	}
	ctx, stop := signal.NotifyContext(context.Background(), syscall.SIGTERM, syscall.SIGINT)
	defer stop()
	log := newLogger(cfg, stderr)
	if err := rotate(ctx, cfg, log, stdout); err != nil {
		fmt.Fprintln(stderr, "switchboard rotate-secret-key:", err)
		return 1
	}
	return 0
}

func rotate(ctx context.Context, cfg *config.Config, log *slog.Logger, stdout io.Writer) error {
	raw, err := openStore(ctx, cfg, log)
	if err != nil {
		return err
	}
	defer raw.Close()

	path := keyFilePath(cfg)
	keyFileMode := cfg.SecretKey == nil && path != ""
	current := cfg.SecretKey
	if keyFileMode {
		current, err = sealed.ReadKeyFile(path)
		if err != nil && !errors.Is(err, fs.ErrNotExist) {
			return err
		}
	}
	next := cfg.NewSecretKey
	pending := path + pendingKeySuffix
	if keyFileMode {
		k, err := sealed.ReadKeyFile(pending)
		switch {
		case err == nil:
			if next != nil && !bytes.Equal(next, k) {
				return fmt.Errorf("%s holds another new key from an unfinished rotation: finish it without SWITCHBOARD_NEW_SECRET_KEY, or delete that file", pending)
			}
			next = k
			fmt.Fprintf(stdout, "resuming the rotation to the key in %s\n", pending)
		case !errors.Is(err, fs.ErrNotExist):
			return err
		default:
			if next == nil {
				if next, err = sealed.NewKey(); err != nil {
					return err
				}
			}
			if err := sealed.CreateKeyFile(pending, next); err != nil {
				return err
			}
		}
	}
	if next == nil {
		return errors.New("set SWITCHBOARD_NEW_SECRET_KEY (or SWITCHBOARD_NEW_SECRET_KEY_FILE) to the new key")
	}
	if current != nil && bytes.Equal(current, next) {
		return errors.New("the new key is the current key")
	}
	var old [][]byte
	if current != nil {
		old = append(old, current)
	}
	st, err := sealed.WrapWith(raw, next, sealed.Options{OldKeys: old})
	if err != nil {
		return err
	}
	res, err := sealed.Reseal(ctx, st)
	if err != nil {
		return fmt.Errorf("%w (nothing is lost: run the command again to finish)", err)
	}
	if len(res.Unopenable) > 0 {
		return fmt.Errorf("%d providers have secrets that neither the current nor the new key opens (%s): restore their key or send their secrets again, then run the command again",
			len(res.Unopenable), strings.Join(res.Unopenable, ", "))
	}
	fmt.Fprintf(stdout, "re-sealed %d providers under key id %s\n", res.Resealed, sealed.KeyID(next))
	scrub(ctx, raw, log)
	if keyFileMode {
		if err := sealed.ReplaceKeyFile(pending, path); err != nil {
			return err
		}
		fmt.Fprintf(stdout, "replaced the key file %s\n", path)
	} else {
		fmt.Fprintln(stdout, "now set SWITCHBOARD_SECRET_KEY to the new key (the value of SWITCHBOARD_NEW_SECRET_KEY) and start the server")
	}
	return nil
}
