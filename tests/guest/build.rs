//! Links the program with cap-runtime's user layout (bare-metal targets).

fn main() {
    cap_runtime_build::link_user_program();
}
