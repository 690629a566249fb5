package ledger

import (
	"fmt"
	"io/fs"
)

func subFS() (fs.FS, error) {
	sub, err := fs.Sub(migrations, "migrations")
	if err != nil {
		return nil, fmt.Errorf("open embedded migrations: %w", err)
	}
	return sub, nil
}
