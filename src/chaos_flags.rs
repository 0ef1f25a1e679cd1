//! The practice ground's flags, declared from the server's table of
//! faults ([`server::ChaosConfig::FLAGS`]): a fault added there is a flag
//! here with no change to this file.

use clap::{Arg, ArgAction, ArgMatches, Args, Command, FromArgMatches};
use server::ChaosConfig;

/// The faults asked for on the command line, all off by default.
pub struct ChaosArgs(pub ChaosConfig);

const HEADING: &str = "Practise failure (all off by default; on /price unless --chaos-all)";

impl Args for ChaosArgs {
    fn augment_args(command: Command) -> Command {
        let mut command = command.next_help_heading(HEADING);
        for flag in ChaosConfig::FLAGS {
            command = command.arg(
                Arg::new(flag.name)
                    .long(flag.name)
                    .value_name(flag.value_name)
                    .help(flag.help.trim())
                    // Checked as clap reads it, so a bad value is clap's
                    // one-line error naming the flag, exit code 2.
                    .value_parser(move |text: &str| {
                        ChaosConfig::default()
                            .set(flag.name, text)
                            .map(|()| text.to_owned())
                    }),
            );
        }
        command
            .arg(
                Arg::new("seed")
                    .long("seed")
                    .value_name("N")
                    .value_parser(clap::value_parser!(u64))
                    .help(
                        "The seed of every random fault: the same seed and the same requests \
                         give the same faults. Drawn at random (and shown) when absent.",
                    ),
            )
            .arg(
                Arg::new("chaos-all")
                    .long("chaos-all")
                    .action(ArgAction::SetTrue)
                    .help("Misbehave on every route of the API, not only /price."),
            )
    }

    fn augment_args_for_update(command: Command) -> Command {
        Self::augment_args(command)
    }
}

impl FromArgMatches for ChaosArgs {
    fn from_arg_matches(matches: &ArgMatches) -> Result<Self, clap::Error> {
        let mut args = ChaosArgs(ChaosConfig::default());
        args.update_from_arg_matches(matches)?;
        Ok(args)
    }

    fn update_from_arg_matches(&mut self, matches: &ArgMatches) -> Result<(), clap::Error> {
        let config = &mut self.0;
        for flag in ChaosConfig::FLAGS {
            if let Some(text) = matches.get_one::<String>(flag.name) {
                config.set(flag.name, text).map_err(|error| {
                    clap::Error::raw(clap::error::ErrorKind::ValueValidation, error)
                })?;
            }
        }
        if let Some(seed) = matches.get_one::<u64>("seed") {
            config.seed = Some(*seed);
        }
        config.all_routes = matches.get_flag("chaos-all");
        Ok(())
    }
}
