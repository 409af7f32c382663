package main

import (
	"bufio"
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"os"
	"strings"
	"text/tabwriter"
	"unicode/utf8"

	"github.com/cmexhub/cmex"
	"github.com/cmexhub/cmex/internal/sqlstore"
	"golang.org/x/term"
)

// minPassword is the shortest password the CLI sets. The sandbox's fixed
// password is set by -sandbox, not through here.
const minPassword = 8

func userCommand() *command {
	c := &command{
		name:    "user",
		summary: "Add, list, re-key, disable or enable a provider's web-service users. Passwords are read from stdin or a prompt, never from a flag; a disabled user is refused on every surface.",
		usage:   "cmex user add|passwd|disable|enable -provider ID -user NAME [-db DB] | cmex user list -provider ID [-db DB]",
		example: `cmex user add -provider 1234567 -user webserviceuser@yourdomain.org   # prompts for the password
printf '%s\n' "$PASSWORD" | cmex user add -provider 1234567 -user lms@example.org
cmex user disable -provider 1234567 -user lms@example.org             # refused at once, as a wrong password is
cmex user list -provider 1234567`,
	}
	c.run = func(ctx context.Context, e *env, args []string) error {
		if done, err := c.groupHelp(e, args, "add, passwd, disable, enable or list", func(fs *flag.FlagSet) {
			dbFlag(fs)
			fs.String("provider", "", "ACCME provider id of the user's organization (required)")
			fs.String("user", "", "username, usually an e-mail address (required but for list)")
		}); done {
			return err
		}
		sub := args[0]
		fs := c.flagSet(e)
		db := dbFlag(fs)
		provider := fs.String("provider", "", "ACCME provider id of the user's organization (required)")
		var username *string
		if sub != "list" {
			username = fs.String("user", "", "username, usually an e-mail address (required)")
		}
		if err := parse(fs, args[1:], e); err != nil {
			return err
		}
		if *provider == "" || username != nil && *username == "" {
			return fmt.Errorf("%w: user %s needs -provider%s", errUsage, sub, map[bool]string{true: " and -user", false: ""}[username != nil])
		}
		return withDB(ctx, *db, func(s *sqlstore.DB) error {
			org, err := findProvider(ctx, s, *provider)
			if err != nil {
				return err
			}
			users := sqlstore.NewUserService(s)
			switch sub {
			case "add", "passwd":
				password, err := readPassword(e, *username)
				if err != nil {
					return err
				}
				if sub == "add" {
					err = users.CreateWebServiceUser(ctx, &cmex.WebServiceUser{OrganizationID: org.ID, Username: *username}, password)
				} else {
					err = users.SetWebServiceUserPassword(ctx, org.ID, *username, password)
				}
				if err != nil {
					return cliError(err)
				}
				verb := map[string]string{"add": "added to", "passwd": "has a new password at"}[sub]
				fmt.Fprintf(e.stdout, "user %s %s provider %s\n", *username, verb, org.ProviderID)
				return nil
			case "disable", "enable":
				if err := users.SetWebServiceUserDisabled(ctx, org.ID, *username, sub == "disable"); err != nil {
					return cliError(err)
				}
				fmt.Fprintf(e.stdout, "user %s of provider %s %sd\n", *username, org.ProviderID, sub)
				return nil
			case "list":
				list, err := users.ListWebServiceUsers(ctx, org.ID)
				if err != nil {
					return err
				}
				tw := tabwriter.NewWriter(e.stdout, 0, 4, 2, ' ', 0)
				fmt.Fprintln(tw, "USER\tCREATED\tPASSWORD SET\tSTATE")
				for _, u := range list {
					state := "active"
					if u.Disabled {
						state = "disabled " + u.DisabledAt.Format("2006-01-02 15:04")
					}
					fmt.Fprintf(tw, "%s\t%s\t%s\t%s\n", u.Username, u.CreatedAt.Format("2006-01-02"), u.PasswordChangedAt.Format("2006-01-02 15:04"), state)
				}
				return tw.Flush()
			}
			return fmt.Errorf("%w: unknown user command %q; want add, passwd, disable, enable or list", errUsage, sub)
		})
	}
	return c
}

// readPassword prompts for the password twice, without echo, when stdin is
// a terminal, and otherwise reads its first line.
func readPassword(e *env, username string) (string, error) {
	password, err := readLine(e, fmt.Sprintf("Password for %s: ", username))
	if err != nil {
		return "", err
	}
	if isTerminal(e) {
		again, err := readLine(e, "Again: ")
		if err != nil {
			return "", err
		}
		if again != password {
			return "", errors.New("the passwords differ")
		}
	}
	if utf8.RuneCountInString(password) < minPassword {
		return "", fmt.Errorf("the password must have at least %d characters (it is read from stdin, or prompted for on a terminal)", minPassword)
	}
	return password, nil
}

func isTerminal(e *env) bool {
	f, ok := e.stdin.(*os.File)
	return ok && term.IsTerminal(int(f.Fd()))
}

// readLine reads a secret: prompted for without echo on a terminal, else
// the first line of stdin.
func readLine(e *env, prompt string) (string, error) {
	if isTerminal(e) {
		fmt.Fprint(e.stderr, prompt)
		b, err := term.ReadPassword(int(e.stdin.(*os.File).Fd()))
		fmt.Fprintln(e.stderr)
		return string(b), err
	}
	line, err := bufio.NewReader(io.LimitReader(e.stdin, cmex.MaxPasswordBytes+2)).ReadString('\n')
	if err != nil && !errors.Is(err, io.EOF) {
		return "", fmt.Errorf("read password from stdin: %w", err)
	}
	return strings.TrimRight(line, "\r\n"), nil
}
